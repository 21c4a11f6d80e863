# `make static`: build/static/migration-sentry, a fully static, stripped musl
# binary with libpq + OpenSSL + cJSON built from Debian source packages by
# scripts/build-static-deps.sh (cached under build/deps; logs in
# build/deps/logs). Included by the top-level Makefile.

STATIC_BIN     := build/static/migration-sentry
STATIC_DEPS    := build/deps
STATIC_PREFIX  := $(STATIC_DEPS)/prefix
STATIC_STAMP   := $(STATIC_DEPS)/stamps/all
STATIC_CC      := musl-gcc
STATIC_MAXSIZE := 4194304
STATIC_CFLAGS  := -static -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 \
                  -Iinclude -I$(STATIC_PREFIX)/include \
                  -DSENTRY_VERSION='"$(VERSION)"'
STATIC_LDFLAGS := -Wl,--gc-sections
STATIC_LIBS    := -L$(STATIC_PREFIX)/lib -lpq -lpgcommon_shlib -lpgport_shlib \
                  -lssl -lcrypto -lcjson -lm

.PHONY: static static-deps

static: $(STATIC_BIN)
	@size=$$(stat -c %s $(STATIC_BIN)); \
	 if [ "$$size" -gt $(STATIC_MAXSIZE) ]; then \
	     echo "static: ERROR: $(STATIC_BIN) is $$size bytes, over the $(STATIC_MAXSIZE) limit" >&2; exit 1; \
	 fi; \
	 echo "static: $(STATIC_BIN): $$size bytes ($$(( (size + 1023) / 1024 )) KiB; limit 4096 KiB); $$(paste -sd, $(STATIC_DEPS)/versions.txt | sed 's/,/, /g')" >&2

# Always run: it installs missing packages and is a no-op (well under a
# second) when every stamp is there; it touches $(STATIC_STAMP) only when a
# library changed, so make re-links only then.
static-deps:
	@sh scripts/build-static-deps.sh

$(STATIC_STAMP): static-deps ;

# One compile-and-link command for the product and for what bench/ measures
# beside it, so that both are built alike: $@.tmp from the .c prerequisites.
STATIC_LINK = $(STATIC_CC) $(STATIC_CFLAGS) $(STATIC_LDFLAGS) -o $@.tmp $(filter %.c,$^) $(STATIC_LIBS)
STATIC_SRCS := $(wildcard src/*.c)

# Every src/*.c present at build time (read when make starts).
$(STATIC_BIN): $(STATIC_SRCS) $(wildcard include/*.h) $(STATIC_STAMP) mk/static.mk
	@mkdir -p $(@D)
	@echo "static: linking $@ from $(words $(filter %.c,$^)) source files"
	@$(STATIC_LINK)
	@strip $@.tmp
	@mv $@.tmp $@

# bench/: the in-process connect floor (bench/limit.c), and the product
# linked the same way but not stripped, so that callgrind can name functions
# (bench/timeline.sh). Same code as $(STATIC_BIN): strip only drops symbols.
BENCH_LIMIT := build/bench/limit
BENCH_SYMS  := build/bench/migration-sentry.syms

$(BENCH_LIMIT): bench/limit.c $(STATIC_STAMP) mk/static.mk
	@mkdir -p $(@D)
	@$(STATIC_LINK)
	@strip $@.tmp
	@mv $@.tmp $@

$(BENCH_SYMS): $(STATIC_SRCS) $(wildcard include/*.h) $(STATIC_STAMP) mk/static.mk
	@mkdir -p $(@D)
	@$(STATIC_LINK)
	@mv $@.tmp $@

# The bench's own tools against a real PostgreSQL (tests/bench): no timing
# asserted, only that what bench/ measures is what it says.
.PHONY: bench-test
bench-test: deps $(BENCH_LIMIT)
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/bench

# Static, stripped, <= 4 MiB, and `--version` runs in an empty chroot.
.PHONY: static-check
static-check: static
	@sh scripts/static-smoke.sh $(STATIC_BIN) $(VERSION)
