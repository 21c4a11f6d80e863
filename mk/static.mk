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

# Every src/*.c present at build time (read when make starts).
$(STATIC_BIN): $(wildcard src/*.c) $(wildcard include/*.h) $(STATIC_STAMP) mk/static.mk
	@mkdir -p $(@D)
	@echo "static: linking $@ from $(words $(filter %.c,$^)) source files"
	@$(STATIC_CC) $(STATIC_CFLAGS) $(STATIC_LDFLAGS) -o $@.tmp $(filter %.c,$^) $(STATIC_LIBS)
	@strip $@.tmp
	@mv $@.tmp $@

# Static, stripped, <= 4 MiB, and `--version` runs in an empty chroot.
.PHONY: static-check
static-check: static
	@sh scripts/static-smoke.sh $(STATIC_BIN) $(VERSION)
