#!/bin/sh
# Smoke test of the static binary (`make static-check`): statically linked
# (no program interpreter, no dynamic section), stripped, at most 4 MiB, and
# `--version` works in an empty chroot (nothing but the binary: no libc, no
# /etc, no /dev). The chroot part is skipped, with a note, when not root.
# Usage: scripts/static-smoke.sh [BINARY [EXPECTED_VERSION]]
set -eu
BIN=${1:-build/static/migration-sentry}
WANT=${2:-}
MAX=4194304

fail() { echo "static-check: FAIL: $*" >&2; exit 1; }

[ -x "$BIN" ] || fail "$BIN missing (run make static)"
size=$(stat -c %s "$BIN")
[ "$size" -le "$MAX" ] || fail "$BIN is $size bytes, over $MAX"
if readelf -lW "$BIN" | grep -q 'INTERP\|DYNAMIC'; then
    fail "$BIN has a program interpreter or a dynamic section: not fully static"
fi
if readelf -SW "$BIN" | grep -q '\.symtab'; then
    fail "$BIN is not stripped"
fi

out=$("$BIN" --version) || fail "$BIN --version exited $?"
if [ -n "$WANT" ]; then
    echo "$out" | grep -qF "$WANT" || fail "--version said '$out', expected $WANT"
fi

if [ "$(id -u)" -eq 0 ]; then
    root=$(mktemp -d "${TMPDIR:-/tmp}/sentry-chroot.XXXXXX")
    trap 'rm -rf "$root"' EXIT
    cp "$BIN" "$root/migration-sentry"
    cout=$(chroot "$root" /migration-sentry --version) \
        || fail "--version in an empty chroot exited $?"
    [ "$cout" = "$out" ] || fail "chroot --version said '$cout', outside '$out'"
    echo "static-check: OK: $BIN ($size bytes), static, stripped, '$out' in an empty chroot"
else
    echo "static-check: OK: $BIN ($size bytes), static, stripped, '$out' (chroot test skipped: not root)"
fi
