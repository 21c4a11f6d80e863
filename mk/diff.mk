# `make heads-diff` / `make heads-diff-long`: the differential test of the
# reader of Alembic projects (tests/diff/run.py) against Debian's Alembic:
# random projects, `migration-sentry heads` and the up-to-date verdict
# against Alembic's own, never a wrong answer. Included by the Makefile.
#   make heads-diff            DIFF_TREES projects (default 3000): what `make test` runs
#   make heads-diff-long       DIFF_LONG_TREES projects (default 50000): what `make fuzz` runs
#   DIFF_SEED=N                another sequence of projects (default 1)
# A wrong answer keeps its project under build/diff/wrong/ and fails.

DIFF_DIR        := build/diff
DIFF_TREES      ?= 3000
DIFF_LONG_TREES ?= 50000
DIFF_SEED       ?= 1

.PHONY: heads-diff heads-diff-long

$(DIFF_DIR):
	@mkdir -p $@

$(DIFF_DIR)/judge: tests/diff/judge.c $(LIB_SRCS:src/%.c=build/obj/%.o) | $(DIFF_DIR)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS)

heads-diff: deps $(BIN) $(DIFF_DIR)/judge
	@$(PYTHON) tests/diff/run.py --trees $(DIFF_TREES) --seed $(DIFF_SEED)

heads-diff-long: deps $(BIN) $(DIFF_DIR)/judge
	@$(PYTHON) tests/diff/run.py --trees $(DIFF_LONG_TREES) --seed $(DIFF_SEED) --binary-every 200

# `make fuzz` runs the long differential run too (after the libFuzzer targets).
fuzz: heads-diff-long
