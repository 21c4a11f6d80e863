# `make static-test`: the static binary alone in an empty root, as PID 1 of a
# new PID namespace (unshare + chroot), gating a TLS PostgreSQL at the heads
# over TCP (sslmode=require), then starting a command; name resolution with
# and without a one-line /etc/hosts. See tests/static/test_static.py.
# Needs root (unshare, chroot). Included by the top-level Makefile.

.PHONY: static-test

static-test: deps static
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/static
