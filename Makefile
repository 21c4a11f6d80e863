# migration-sentry — see README.md. `make demo` and `make test` do everything
# on a fresh Debian machine, installing what they need with apt.

VERSION  := 0.1.0
CC       ?= cc
PKGS     := libpq libcjson libcrypto
# The project's own flags come first and always apply; CFLAGS, CPPFLAGS and
# LDFLAGS (from the command line or the environment, as dpkg-buildflags and
# rpm set them) are added after them, so they can tune optimisation and
# hardening but never drop the warnings or -std. WERROR= (empty) turns
# warnings back into warnings, for packagers on newer compilers.
CSTD     := -std=c11 -D_GNU_SOURCE
WERROR   ?= -Werror
WARN     := -Wall -Wextra $(WERROR) -Wshadow -Wstrict-prototypes -Wformat=2
CFLAGS   ?= -O2 -g
CPPFLAGS ?=
LDFLAGS  ?=
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = $(CSTD) $(WARN) -Iinclude $(PKG_CFLAGS) -DSENTRY_VERSION='"$(VERSION)"' \
             $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(LDFLAGS)

SRCS     := $(wildcard src/*.c)
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
HDRS     := $(wildcard include/*.h)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)

BIN      := build/migration-sentry
ASAN_BIN := build/asan/migration-sentry
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

PYTHON   := /usr/bin/python3

.PHONY: all deps test unit unit-asan integration demo bench static clean

all: $(BIN)

deps:
	@sh scripts/install-deps.sh

# Under -j the package installer must finish before anything compiles (a
# fresh machine has no libpq-dev yet): when a goal that installs packages is
# asked for, deps is an order-only prerequisite of every object and of the
# other package installers (two apt-gets at once fight over dpkg's lock).
# Plain `make` never runs apt.
DEPS_GOALS := deps test unit unit-asan integration integration-asan memcheck demo bench \
              static-test packaging-test container-test
DEPS_FIRST := $(if $(filter $(DEPS_GOALS),$(MAKECMDGOALS)),deps)

build/obj/%.o: src/%.c $(HDRS) | build/obj $(DEPS_FIRST)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

build/asan/obj/%.o: src/%.c $(HDRS) | build/asan/obj $(DEPS_FIRST)
	$(CC) $(ALL_CFLAGS) $(SAN) -c $< -o $@

build/obj build/asan/obj build/unit build/asan/unit:
	@mkdir -p $@

$(BIN): $(SRCS:src/%.c=build/obj/%.o)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(ASAN_BIN): $(SRCS:src/%.c=build/asan/obj/%.o)
	$(CC) $(ALL_CFLAGS) $(SAN) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Unit tests: one cmocka binary per tests/unit/test_*.c, linked with every
# module but main.c, built twice: plain and under ASan+UBSan.
build/unit/%: tests/unit/%.c $(LIB_SRCS:src/%.c=build/obj/%.o) | build/unit $(DEPS_FIRST)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

build/asan/unit/%: tests/unit/%.c $(LIB_SRCS:src/%.c=build/asan/obj/%.o) | build/asan/unit $(DEPS_FIRST)
	$(CC) $(ALL_CFLAGS) $(SAN) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

UNIT_BINS      := $(UNIT_SRCS:tests/unit/%.c=build/unit/%)
UNIT_ASAN_BINS := $(UNIT_SRCS:tests/unit/%.c=build/asan/unit/%)

unit: deps $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

unit-asan: deps $(UNIT_ASAN_BINS)
	@set -e; for t in $(UNIT_ASAN_BINS); do echo "== $$t (asan+ubsan)"; \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 $$t; done

integration: deps $(BIN)
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

# Everything, in one go, as CI runs it: unit tests plain and under ASan+UBSan,
# the integration suite against the plain and the ASan build, the happy path
# under valgrind, a minute of fuzzing, the differential test of the script
# reader against Alembic, the static binary alone in an empty root, the
# bench's own tools, the wheel, man page, install and build hygiene, and the
# Docker image and compose file in real containers (see
# mk/*.mk for each).
test: deps
	@$(MAKE) --no-print-directory $(BIN)
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration-asan
	@$(MAKE) --no-print-directory memcheck
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory heads-diff
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory static-test
	@$(MAKE) --no-print-directory bench-test
	@$(MAKE) --no-print-directory packaging-test
	@$(MAKE) --no-print-directory container-test

demo: deps $(BIN)
	@sh scripts/demo.sh

bench: deps $(BIN) static build/bench/limit
	@sh bench/gate.sh
	@sh bench/run.sh
	@sh bench/init.sh

# The static build's package installer (mk/static.mk) waits for deps too.
static-deps: | $(DEPS_FIRST)

-include $(wildcard mk/*.mk)

clean:
	rm -rf build
