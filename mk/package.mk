# Packaging: `make wheel`, `make install`, `make packaging-test`.
# Included by the top-level Makefile.
#
#   make wheel     dist/migration_sentry-VERSION-py3-none-<tags>.whl: the static
#                  binary (make static) as the wheel's one script, so that
#                  `pip install` puts migration-sentry on a virtualenv's PATH;
#                  written by scripts/build-wheel.py (standard library only,
#                  reproducible: SOURCE_DATE_EPOCH or 1980-01-01 timestamps)
#   make install   $(DESTDIR)$(BINDIR)/migration-sentry and
#                  $(DESTDIR)$(MANDIR)/man1/migration-sentry.1; PREFIX defaults to
#                  /usr/local. INSTALL_BIN picks the binary (default the
#                  dynamically linked build/migration-sentry, what a distribution
#                  ships; INSTALL_BIN=build/static/migration-sentry for the static one)
#   make uninstall removes both
#   make packaging-test
#                  the wheel (structure, tags pip accepts, a venv install running
#                  the gate), the man page (no groff/man warning, every setting,
#                  command and exit code), `make install` layout, and the build
#                  hygiene (CC=clang, CFLAGS/CPPFLAGS/LDFLAGS, WERROR=, -j8 from a
#                  clean tree): tests/packaging/

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
INSTALL ?= install
INSTALL_BIN ?= $(BIN)
MAN_PAGE := docs/migration-sentry.1

# The wheel's metadata. PKG_LICENSE and PKG_URLS are placeholders until the
# project's owner settles them (there is no LICENSE file yet).
PKG_SUMMARY := Gates a Flask-Migrate / Alembic app's start on a migrated PostgreSQL: one static binary
PKG_LICENSE ?= MIT
PKG_URLS    ?= Homepage=https://github.com/migration-sentry/migration-sentry \
               Documentation=https://github.com/migration-sentry/migration-sentry\#readme \
               Issues=https://github.com/migration-sentry/migration-sentry/issues
WHEEL_TAGS  := py3-none-manylinux_2_5_x86_64.manylinux1_x86_64.musllinux_1_1_x86_64
WHEEL       := dist/migration_sentry-$(VERSION)-$(WHEEL_TAGS).whl

# What packaging-test needs beyond deps: clang for `make CC=clang`, groff and
# man-db for the page, Debian's venv and pip, readelf.
PACKAGE_PKGS := clang groff-base man-db python3-venv python3-pip python3-yaml binutils make

.PHONY: wheel install uninstall man-check packaging-test package-deps

package-deps: | $(DEPS_FIRST)
	@sh scripts/install-deps.sh $(PACKAGE_PKGS)

# Rewritten on every run (well under a second; the bytes are the same for the
# same binary and README).
wheel: static
	@rm -f dist/migration_sentry-*.whl
	@$(PYTHON) scripts/build-wheel.py --binary build/static/migration-sentry --version $(VERSION) \
	    --readme README.md --out-dir dist --summary "$(PKG_SUMMARY)" \
	    --license "$(PKG_LICENSE)" $(addprefix --url ,$(PKG_URLS)) >/dev/null
	@echo "wheel: $(WHEEL) ($$(stat -c %s $(WHEEL)) bytes)"

# The .TH line gets the Makefile's VERSION, so the page never says another.
install: $(INSTALL_BIN)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	$(INSTALL) -m 755 $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/migration-sentry
	sed -e '/^\.TH /s/"migration-sentry [^"]*"/"migration-sentry $(VERSION)"/' $(MAN_PAGE) \
	    > $(DESTDIR)$(MANDIR)/man1/migration-sentry.1.tmp
	chmod 644 $(DESTDIR)$(MANDIR)/man1/migration-sentry.1.tmp
	mv $(DESTDIR)$(MANDIR)/man1/migration-sentry.1.tmp $(DESTDIR)$(MANDIR)/man1/migration-sentry.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/migration-sentry $(DESTDIR)$(MANDIR)/man1/migration-sentry.1

# Any warning fails: groff prints them on stderr but exits 0.
man-check:
	@out=$$(groff -ww -man -z $(MAN_PAGE) 2>&1; MANWIDTH=80 man --warnings -l $(MAN_PAGE) 2>&1 >/dev/null); \
	 if [ -n "$$out" ]; then echo "$$out" >&2; echo "man-check: FAILED" >&2; exit 1; fi; \
	 echo "man-check: $(MAN_PAGE): no warning"

packaging-test: deps package-deps
	@$(MAKE) --no-print-directory $(BIN) wheel
	@$(MAKE) --no-print-directory man-check
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/packaging
