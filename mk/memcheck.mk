# `make memcheck`: the gate's happy path (migrate, a second no-op run, check,
# and a few cheap commands) under valgrind memcheck against a throwaway
# PostgreSQL; fails on any memcheck error or definite/indirect leak
# (tests/valgrind/memcheck.sh; logs in build/memcheck/).
#
# `make integration-asan`: the unit tests under ASan+UBSan (unit-asan), then
# the integration suite against build/asan/migration-sentry. The suite gives
# the binary a clean environment, so SENTRY_BIN points at a small wrapper that
# sets ASAN_OPTIONS (detect_leaks=1; ASan/LSan reports written under
# build/asan/reports/) and execs the ASan build (same PID, same argv). UBSan
# reports (this runtime ignores log_path for them) go to stderr and end the
# run (-fno-sanitize-recover): the suite's output is kept in
# build/asan/integration.log and every distinct report site is listed at the
# end. Any report fails the target, even from a test that passed.
# INTEGRATION_ASAN_ARGS passes extra pytest arguments (e.g. -k, -x).
# Included by the top-level Makefile.

ASAN_WRAPPER := build/asan/sentry-asan
ASAN_REPORTS := build/asan/reports
ASAN_LOG     := build/asan/integration.log
INTEGRATION_ASAN_ARGS ?=

.PHONY: memcheck integration-asan

memcheck: deps $(BIN)
	@sh tests/valgrind/memcheck.sh $(BIN)

$(ASAN_WRAPPER): $(ASAN_BIN) mk/memcheck.mk
	@printf '%s\n' '#!/bin/sh' \
	  '# written by mk/memcheck.mk: the ASan build with its options, whatever env the caller gives' \
	  'ASAN_OPTIONS=detect_leaks=1:log_path=$(CURDIR)/$(ASAN_REPORTS)/asan' \
	  'UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1' \
	  'export ASAN_OPTIONS UBSAN_OPTIONS' \
	  'exec $(CURDIR)/$(ASAN_BIN) "$$@"' > $@
	@chmod 755 $@

integration-asan: deps $(ASAN_BIN) $(ASAN_WRAPPER)
	@$(MAKE) --no-print-directory unit-asan
	@rm -rf $(ASAN_REPORTS) && mkdir -p $(ASAN_REPORTS) && chmod 1777 $(ASAN_REPORTS)
	@rc=0; SENTRY_BIN=$(ASAN_WRAPPER) $(PYTHON) -m pytest -q -p no:cacheprovider -rf \
	    $(INTEGRATION_ASAN_ARGS) tests/integration > $(ASAN_LOG) 2>&1 || rc=$$?; \
	 tail -n 60 $(ASAN_LOG); \
	 if [ -n "$$(ls -A $(ASAN_REPORTS))" ]; then \
	     echo "integration-asan: ASan/LSan reports in $(ASAN_REPORTS):" >&2; \
	     for f in $(ASAN_REPORTS)/*; do echo "=== $$f" >&2; cat "$$f" >&2; done; \
	     rc=1; \
	 fi; \
	 if grep -q 'runtime error:\|AddressSanitizer\|LeakSanitizer' $(ASAN_LOG); then \
	     echo "integration-asan: sanitizer reports in the suite's output ($(ASAN_LOG)):" >&2; \
	     grep -o '[^ ]* runtime error:.*\|ERROR: [A-Za-z]*Sanitizer.*' $(ASAN_LOG) \
	         | sort | uniq -c >&2; \
	     rc=1; \
	 fi; \
	 if [ $$rc -ne 0 ]; then echo "integration-asan: FAILED" >&2; exit $$rc; fi; \
	 echo "integration-asan: passed, no sanitizer report"
